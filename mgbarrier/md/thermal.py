def thermal_score(): pass
def looks_thermal(): pass
