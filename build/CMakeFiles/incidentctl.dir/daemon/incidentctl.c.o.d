CMakeFiles/incidentctl.dir/daemon/incidentctl.c.o: \
 /work/main/daemon/incidentctl.c /usr/include/stdc-predef.h
