
INC-0a1b2c3d4e5f6071:4’
INC-0a1b2c3d4e5f6071db-primary-down (08BoncallHRdbZprimary database unreachablebsite-apzctozstatus-pageˆ˜ €Ğ•ÿ¼1¨à¤™ÿ¼1	am-7f3a9c Ø†–ÿ¼1