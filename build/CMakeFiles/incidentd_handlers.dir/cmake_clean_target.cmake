file(REMOVE_RECURSE
  "libincidentd_handlers.a"
)
