// Command firstboot is the node agent baked into the image. systemd runs `firstboot boot` on
// every boot before etcd.service, and `firstboot report` once startup has finished.
//
// This version starts a single-member etcd; configuration, TLS and clustering come later.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "boot":
		err = boot(ctx, defaultPaths())
	case "report":
		err = report(ctx, os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-appliance: firstboot %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: firstboot boot|report
  boot    prepare this node's etcd member (run by firstboot.service before etcd.service)
  report  wait for startup to finish and print the boot result on the console`)
	os.Exit(2)
}
