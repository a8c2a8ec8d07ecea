
g
INC­0a1b2c3d4e5f6071db-primary-down (HRdbZprimary database unreachablebsite-a˜ €Ğ•ÿ¼1€Ğ•ÿ¼1°º—ÿ¼1
teamdba"@5d41402abc4b2a76b9719d911017c592ae3a1c0e3b1e4f5a6b7c8d9e0f1a2b3c*detected*
classified*scoped*assigned