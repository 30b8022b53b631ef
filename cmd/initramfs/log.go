package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// logger writes to /dev/kmsg so lines reach the serial console with kernel timestamps;
// before devtmpfs is mounted (or if kmsg refuses a line) it falls back to stderr, which the
// kernel connected to /dev/console.
type logger struct {
	kmsg *os.File
}

func (l *logger) openKmsg() {
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		l.kmsg = f
	}
}

func (l *logger) printf(format string, args ...any) {
	l.write("", "initramfs: "+fmt.Sprintf(format, args...))
}

// write sends one record; level is a kmsg "<N>" prefix or "" for the kernel default. It
// reports whether the line went to kmsg rather than stderr.
func (l *logger) write(level, line string) (toKmsg bool) {
	line = strings.TrimRight(line, "\n") + "\n"
	if l.kmsg != nil {
		// one write is one kmsg record
		if _, err := l.kmsg.WriteString(level + line); err == nil {
			return true
		}
	}
	os.Stderr.WriteString(line)
	return false
}

// alert logs a line an operator must see, whatever the console log level.
func (l *logger) alert(format string, args ...any) {
	line := "initramfs: " + fmt.Sprintf(format, args...) + "\n"
	// KERN_CRIT is shown even with "quiet"; the console copy is for when kmsg is not (the
	// stderr fallback already is the console).
	if l.write("<2>", line) {
		if c, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
			c.WriteString(line)
			c.Close()
		} else {
			os.Stderr.WriteString(line)
		}
	}
}

// fatal reports err where an operator will see it and powers off. Exiting instead would
// panic the kernel with "Attempted to kill init", which says nothing about the cause.
func (l *logger) fatal(err error) {
	l.alert("FATAL: %s", err)
	time.Sleep(5 * time.Second)
	unix.Sync()
	if perr := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); perr != nil {
		l.write("<2>", "initramfs: power off failed: "+perr.Error())
	}
	for {
		time.Sleep(time.Hour)
	}
}

// relaxKmsgRatelimit lifts the kernel's /dev/kmsg rate limit (10 lines per 5 s per opener),
// which would drop most of our log, and returns a func that restores the old setting for
// the real init. It does nothing if printk.devkmsg= locked the setting.
func relaxKmsgRatelimit() (restore func()) {
	const knob = "/proc/sys/kernel/printk_devkmsg"
	old, err := os.ReadFile(knob)
	if err != nil || strings.TrimSpace(string(old)) == "on" {
		return func() {}
	}
	// The kernel takes the value only with its trailing newline (it checks that the known
	// word is all but one byte of the write); without it the write fails with EINVAL.
	if err := os.WriteFile(knob, []byte("on\n"), 0); err != nil {
		return func() {}
	}
	return func() { _ = os.WriteFile(knob, []byte(strings.TrimSpace(string(old))+"\n"), 0) }
}
