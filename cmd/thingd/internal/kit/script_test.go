package kit

import "testing"

// TestParseScript: the endpoint, client ID and topic come from the sample's command
// line in every shape the console's kits have used; anything not literal is left out.
func TestParseScript(t *testing.T) {
	const ep = "abc123-ats.iot.eu-west-1.amazonaws.com"
	for _, tc := range []struct {
		name, script        string
		endpoint, id, topic string
	}{
		{"python v2", startSh, testEndpoint, "basicPubSub", "sdk/test/python"},
		{"linux variant", "python3 aws-iot-device-sdk-python-v2/samples/pubsub.py --endpoint " + ep + " --ca_file root-CA.crt --cert T.cert.pem --key T.private.key --client_id basicPubSub --topic sdk/test/Python --count 0\n", ep, "basicPubSub", "sdk/test/Python"},
		{"python v1", "python aws-iot-device-sdk-python/samples/basicPubSub/basicPubSub.py -e " + ep + " -r root-CA.crt -c T.cert.pem -k T.private.key\n", ep, "", ""},
		{"java quoted args", "mvn exec:java -pl samples/BasicPubSub -Dexec.mainClass=pubsub.PubSub -Dexec.args='--endpoint " + ep + " --client_id sdk-java --topic sdk/test/java --ca_file root-CA.crt'\n", ep, "sdk-java", "sdk/test/java"},
		{"node equals form", "node dist/index.js --endpoint=" + ep + " --client_id=sdk-nodejs-v2 --topic=sdk/test/js\n", ep, "sdk-nodejs-v2", "sdk/test/js"},
		{"powershell CRLF", "python aws-iot-device-sdk-python-v2\\samples\\pubsub.py --endpoint " + ep + " `\r\n  --client_id basicPubSub --topic \"sdk/test/python\"\r\n", ep, "basicPubSub", "sdk/test/python"},
		{"continuation", "python3 pubsub.py \\\n  --endpoint " + ep + " \\\n  --client_id dev1\n", ep, "dev1", ""},
		{"last command wins", "python3 a.py --endpoint old-ats.iot.us-east-1.amazonaws.com --client_id a\npython3 b.py --endpoint " + ep + " --client_id b\necho --client_id c\n", ep, "b", ""},
		{"comments ignored", "python3 a.py --endpoint " + ep + "\n# python3 a.py --endpoint other.example.com\n", ep, "", ""},
		{"upper case endpoint", "x --endpoint ABC123-ATS.iot.eu-west-1.amazonaws.com\n", ep, "", ""},
		{"variable endpoint", "endpointAddress=$(aws iot describe-endpoint)\npython basicPubSub.py -e $endpointAddress -id dev1 -t t/1\n", "", "dev1", "t/1"},
		{"url is no endpoint", "x --endpoint https://" + ep + ":8883 --client_id c\n", "", "c", ""},
		{"reserved client id", "x --endpoint " + ep + " --client_id '$aws' --topic 'a b'\n", ep, "", "a b"},
		{"no command", "#!/bin/sh\nset -e\n", "", "", ""},
		{"flag without value", "x --endpoint", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, id, topic := parseScript(tc.script)
			if e != tc.endpoint || id != tc.id || topic != tc.topic {
				t.Errorf("got %q %q %q; want %q %q %q", e, id, topic, tc.endpoint, tc.id, tc.topic)
			}
		})
	}
}
