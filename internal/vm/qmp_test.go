package vm

import (
	"bufio"
	"strings"
	"testing"
)

func TestQMPReply(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"return", `{"return": {}}` + "\n", ""},
		{"event first", `{"timestamp": {"seconds": 1}, "event": "POWERDOWN"}` + "\n" + `{"return": {}}` + "\n", ""},
		{"error", `{"error": {"class": "GenericError", "desc": "no such command"}}` + "\n", "no such command"},
		{"closed", `{"event": "SHUTDOWN"}` + "\n", "EOF"},
		{"garbage", "nonsense\n", "nonsense"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := qmpReply(bufio.NewReader(strings.NewReader(tt.in)), "system_powerdown")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
