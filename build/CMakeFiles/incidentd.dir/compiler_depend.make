# Empty compiler generated dependencies file for incidentd.
# This may be replaced when dependencies are built.
