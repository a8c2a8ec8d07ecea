# Empty dependencies file for incidentctl.
# This may be replaced when dependencies are built.
