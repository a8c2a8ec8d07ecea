file(REMOVE_RECURSE
  "libincidentd_proto.a"
)
