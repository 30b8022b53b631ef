package azure

import (
	"testing"

	"github.com/etcd-appliance/appliance/internal/platform/platformtest"
)

// FuzzParseInstance: no IMDS instance document panics the parser; what it accepts is well formed.
func FuzzParseInstance(f *testing.F) {
	f.Add([]byte(`{"compute":{"name":"n","userData":"dmVyc2lvbjogMQo=","publicKeys":[{"keyData":"ssh-ed25519 AAAA"}]},"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.0.0.4"}]}}]}}`))
	f.Add([]byte(`{"compute":{"userData":"!!"}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := ParseInstance(doc)
		if err != nil {
			return
		}
		platformtest.CheckInvariants(t, md)
	})
}

// FuzzParseOVFEnv: no ovf-env.xml panics the parser.
func FuzzParseOVFEnv(f *testing.F) {
	f.Add([]byte(`<Environment><wa:ProvisioningSection><LinuxProvisioningConfigurationSet><CustomData>dmVyc2lvbjogMQo=</CustomData></LinuxProvisioningConfigurationSet></wa:ProvisioningSection></Environment>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _ = ParseOVFEnv(doc)
	})
}

// FuzzParseGoalState: no WireServer goal state panics the parser.
func FuzzParseGoalState(f *testing.F) {
	f.Add([]byte(`<GoalState><Incarnation>1</Incarnation><Container><ContainerId>c</ContainerId><RoleInstanceList><RoleInstance><InstanceId>i</InstanceId></RoleInstance></RoleInstanceList></Container></GoalState>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _, _, _ = ParseGoalState(doc)
	})
}
