# Empty dependencies file for incidentd_testutil.
# This may be replaced when dependencies are built.
