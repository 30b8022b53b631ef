// Command floorinit is the trivial init of the boot-time floor (`make bench`): booted as the
// only file of an initramfs, it powers the machine off at once. The floor is what the kernel
// and qemu cost before any of the appliance runs.
package main

import "golang.org/x/sys/unix"

func main() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // PID 1 must not exit: that panics the kernel
}
