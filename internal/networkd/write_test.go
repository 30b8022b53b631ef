package networkd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "systemd", "network")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"10-appliance-bond0.netdev": "stale: the previous render had a bond",
		"10-appliance-eth0.network": "stale: replaced",
		"50-admin.network":          "someone else's: kept",
		"10-appliance-notes.txt":    "not a networkd file: kept",
		"99-appliance-dhcp.network": "a runtime override of the image's catch-all: kept",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files := Files{{"10-appliance-eth0.network", []byte("[Match]\nName=eth0\n")}, {"20-appliance-eth1.network", []byte("[Match]\nName=eth1\n")}}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"10-appliance-eth0.network", "10-appliance-notes.txt", "20-appliance-eth1.network", "50-admin.network", "99-appliance-dhcp.network"}
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(f.Data) {
			t.Errorf("%s = %q, want %q", f.Name, got, f.Data)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644: networkd reads it as systemd-network", f.Name, st.Mode().Perm())
		}
	}
}

func TestWriteCreatesDirAndRefusesPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "network")
	if err := Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("%s not created: %v", dir, err)
	}
	for _, name := range []string{"", "../10-appliance-x.network", "sub/10-appliance-x.network", ".hidden"} {
		if err := Write(dir, Files{{name, []byte("x")}}); err == nil {
			t.Errorf("Write accepted file name %q", name)
		}
	}
}
