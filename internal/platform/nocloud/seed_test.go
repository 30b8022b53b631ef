package nocloud

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestFromDir(t *testing.T) {
	const meta = "instance-id: i-1\nlocal-hostname: node-a\n"
	const net = "version: 2\nethernets:\n  eth0: {dhcp4: true}\n"
	for _, tc := range []struct {
		name      string
		files     fstest.MapFS
		wantUser  string // "" with wantNilUser: UserData must be nil
		nilUser   bool
		wantNet   bool
		wantErr   string
		wantNoEnt bool
	}{
		{"all three", fstest.MapFS{
			"meta-data":      {Data: []byte(meta)},
			"user-data":      {Data: []byte("version: 1\n")},
			"network-config": {Data: []byte(net)},
			"vendor-data":    {Data: []byte("ignored")},
		}, "version: 1\n", false, true, "", false},
		{"meta-data only", fstest.MapFS{"meta-data": {Data: []byte(meta)}}, "", true, false, "", false},
		{"empty user-data is none", fstest.MapFS{"meta-data": {Data: []byte(meta)}, "user-data": {}}, "", true, false, "", false},
		{"no meta-data", fstest.MapFS{"user-data": {Data: []byte("version: 1\n")}}, "", false, false,
			"nocloud seed: meta-data is required: open meta-data: file does not exist", true},
		{"user-data is a directory", fstest.MapFS{"meta-data": {Data: []byte(meta)}, "user-data/x": {}}, "", false, false,
			"nocloud seed: user-data is a directory, not a regular file", false},
		{"bad network-config", fstest.MapFS{"meta-data": {Data: []byte(meta)}, "network-config": {Data: []byte("version: 9\n")}}, "", false, false,
			`nocloud seed: network-config: version: "9" is not a network-config version`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := FromDir(tc.files)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %s…", err, tc.wantErr)
				}
				if tc.wantNoEnt && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v does not wrap fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.InstanceID != "i-1" || md.Hostname != "node-a" {
				t.Errorf("meta-data not read: %+v", md)
			}
			if tc.nilUser != (md.UserData == nil) || string(md.UserData) != tc.wantUser {
				t.Errorf("UserData = %q (nil %v), want %q (nil %v)", md.UserData, md.UserData == nil, tc.wantUser, tc.nilUser)
			}
			if tc.wantNet != (md.Network != nil) {
				t.Errorf("Network = %+v, want one: %v", md.Network, tc.wantNet)
			}
		})
	}
}
