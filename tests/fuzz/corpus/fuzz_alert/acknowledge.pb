
ack-1db-primary-downbalice