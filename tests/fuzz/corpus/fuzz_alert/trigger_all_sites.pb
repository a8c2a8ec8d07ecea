
am-all-sitesdb-primary-down *alertmanager2payments:primary database unreachableB*X€Ð•ÿ¼1