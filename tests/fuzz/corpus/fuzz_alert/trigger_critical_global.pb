
	am-crit-1db-primary-down *alertmanager2payments:primary database unreachableBsite-aBsite-bBsite-cR
teamdbaR
scopeglobalX€Ð•ÿ¼1