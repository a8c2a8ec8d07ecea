# Empty dependencies file for incidentd_handlers.
# This may be replaced when dependencies are built.
