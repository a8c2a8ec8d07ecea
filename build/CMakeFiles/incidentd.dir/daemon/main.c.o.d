CMakeFiles/incidentd.dir/daemon/main.c.o: /work/main/daemon/main.c \
 /usr/include/stdc-predef.h
