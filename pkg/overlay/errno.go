package overlay

import "syscall"

var errAddrInUse = syscall.EADDRINUSE
