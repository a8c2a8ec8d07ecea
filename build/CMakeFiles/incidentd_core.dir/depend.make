# Empty dependencies file for incidentd_core.
# This may be replaced when dependencies are built.
