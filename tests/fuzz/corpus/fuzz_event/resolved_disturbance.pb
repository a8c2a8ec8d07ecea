
INC-0a1b2c3d4e5f6071:2o
INC-0a1b2c3d4e5f6071db-primary-down (HRdbZprimary database unreachablebsite-a˜ €Ğ•ÿ¼1°›ÿ¼1	am-7f3a9c ¨––ÿ¼1