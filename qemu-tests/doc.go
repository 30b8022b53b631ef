// Package qemutests boots the built disk images in qemu (TCG) the way a user would and
// checks the appliance from the outside: the boot-finished console line, etcd's health
// endpoint and a put/get through the etcd client. The tests live in _test.go files; run
//
//	go test -timeout 40m ./qemu-tests
//
// Environment:
//
//	IMAGE_DIR             directory with manifest.json and the images (default ../out,
//	                      relative to this package)
//	ETCD_APPLIANCE_STRICT=1
//	                      fail instead of skip when images, root, /dev/net/tun or a tool
//	                      are missing (make test); QEMU_TESTS_REQUIRED=1 is an alias
//	QEMU_TESTS_ARCHES     comma-separated arches to boot (default: all)
//	QEMU_TESTS_TIMEOUT    hard limit per VM, a Go duration (default 6m)
//	QEMU_TESTS_PARALLEL   VMs booted at once (default 2)
//	QEMU_TESTS_LOGDIR     where console logs of failed tests are kept (default ../out/test-logs)
//	QEMU_TESTS_VERBOSE=1  stream every console line to the test log
package qemutests
