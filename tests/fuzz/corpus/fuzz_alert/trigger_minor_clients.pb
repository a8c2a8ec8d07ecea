

am-minor-1db-primary-down *alertmanager2search:primary database unreachableJclient-1Jclient-2X€Ð•ÿ¼1