file(REMOVE_RECURSE
  "libincidentd_core.a"
)
