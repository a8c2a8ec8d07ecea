file(REMOVE_RECURSE
  "CMakeFiles/incidentd_proto.dir/gen/incident/v1/incident.pb-c.c.o"
  "CMakeFiles/incidentd_proto.dir/gen/incident/v1/incident.pb-c.c.o.d"
  "CMakeFiles/incidentd_proto.dir/gen/incidentd/v1/internal.pb-c.c.o"
  "CMakeFiles/incidentd_proto.dir/gen/incidentd/v1/internal.pb-c.c.o.d"
  "gen/incident/v1/incident.pb-c.c"
  "gen/incident/v1/incident.pb-c.h"
  "gen/incidentd/v1/internal.pb-c.c"
  "gen/incidentd/v1/internal.pb-c.h"
  "libincidentd_proto.a"
  "libincidentd_proto.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/incidentd_proto.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
