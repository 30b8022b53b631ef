package node

import (
	"fmt"
	"strings"
)

// imageVersion is IMAGE_VERSION and BUILD_ID from os-release, recorded on the data volume.
func imageVersion(osRelease []byte) string {
	f := osReleaseFields(osRelease)
	return strings.TrimSpace(f["IMAGE_VERSION"] + " " + f["BUILD_ID"])
}

func osReleaseFields(b []byte) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			f[k] = strings.Trim(v, `"`)
		}
	}
	return f
}

// imageLine names the running image from os-release, e.g.
// "etcd-appliance: image 1.2.0 build 02d83e0a6f51c949 (etcd v3.6.16, arm64)".
func imageLine(osRelease []byte) string {
	f := osReleaseFields(osRelease)
	return fmt.Sprintf("etcd-appliance: image %s build %s (etcd %s, %s)", f["IMAGE_VERSION"], f["BUILD_ID"], f["ETCD_VERSION"], f["ARCHITECTURE"])
}
