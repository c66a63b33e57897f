package bench

import (
	"net"
	"syscall"
	"unsafe"
)

// inQueue returns how many bytes the kernel holds unread for conn (ioctl
// TIOCINQ): a check for pushes without a read that could block.
func inQueue(conn net.Conn) int {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var n int32
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	return int(n)
}
