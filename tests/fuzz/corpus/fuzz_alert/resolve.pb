
	resolve-1db-primary-down:fixed by failover