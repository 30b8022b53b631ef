// Command etcd is etcd, etcdctl and etcdutl in one binary, chosen by the name it is run as
// (the image links etcdctl and etcdutl to it). The three release binaries link the same gRPC,
// protobuf and client code; one copy of it makes the root filesystem ~20 MiB smaller.
//
// It calls the entry points every supported line (v3.5, v3.6, v3.7) has: etcdmain.Main,
// ctlv3.MustStart, and the etcdutl commands, whose root command lives in that module's main
// package and so is declared again here with the same flags. imagebuild builds each line
// from this file and hashkv.go plus the line's go.mod and store.go (image/etcdlines.go).
package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
	"go.etcd.io/etcd/pkg/v3/cobrautl"
	"go.etcd.io/etcd/server/v3/etcdmain"
)

// commands are the other programs a line links in, by the name they are run as
// (firstboot.go on the lines whose etcd client firstboot builds with).
var commands = map[string]func(){}

func main() {
	name := filepath.Base(os.Args[0])
	if run := commands[name]; run != nil {
		run()
		return
	}
	switch name {
	case "etcdctl":
		ctlv3.MustStart()
	case "etcdutl":
		if err := etcdutlCommand().Execute(); err != nil {
			cobrautl.ExitWithError(cobrautl.ExitError, err)
		}
	default:
		etcdmain.Main(os.Args)
	}
}

func etcdutlCommand() *cobra.Command {
	cobra.EnablePrefixMatching = true
	root := &cobra.Command{Use: "etcdutl", Short: "An administrative command line tool for etcd3."}
	root.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple",
		"set the output format (fields, json, protobuf, simple, table)")
	root.AddCommand(etcdutlCommands()...) // store.go (v3.5/store.go): each line's own list
	root.SetHelpTemplate(`{{.UsageString}}`)
	return root
}
