
	am-warn-1db-primary-down *alertmanager2search:primary database unreachableX€Ð•ÿ¼1