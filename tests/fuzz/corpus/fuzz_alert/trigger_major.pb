
	am-7f3a9cdb-primary-down *alertmanager2db:primary database unreachableBsite-aR
teamdbaX€Ð•ÿ¼1