# Empty dependencies file for incidentd_proto.
# This may be replaced when dependencies are built.
