package app

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigEqualsDefaults(t *testing.T) {
	got, err := LoadConfig(filepath.Join("..", "config.toml.example"), nil)
	if err != nil {
		t.Fatalf("config.toml.example: %v", err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("config.toml.example drifted from Defaults():\n got %+v\nwant %+v", got, want)
	}
}

func TestNoConfigIsDefaults(t *testing.T) {
	got, err := LoadConfig("", []string{"PATH=/bin", "GATEHOUSE_CONFIG=/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, Defaults()) {
		t.Fatalf("empty config is not the defaults: %+v", got)
	}
}

func writeTOML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigLayers(t *testing.T) {
	key := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // bytes 0..31, unpadded
	p := writeTOML(t, `
[server]
listen = "0.0.0.0:9000"
trusted_proxies = ["10.0.0.0/8"]
[sso]
clock_skew = "30s"
[crypto]
encryption_keys = { 1 = "`+key+`=", 2 = "`+key+`" }
`)
	cfg, err := LoadConfig(p, []string{
		"GATEHOUSE_SSO__CLOCK_SKEW=45s",
		"GATEHOUSE_SERVER__TRUSTED_PROXIES=192.0.2.0/24, 2001:db8::/32",
		"GATEHOUSE_RATELIMIT__SIGNIN_PER_IP=0",
		"GATEHOUSE_SSO__REQUIRE_JTI=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "0.0.0.0:9000" {
		t.Errorf("file value lost: %q", cfg.Server.Listen)
	}
	if cfg.SSO.ClockSkew != 45*time.Second {
		t.Errorf("environment must override the file: %v", cfg.SSO.ClockSkew)
	}
	if !reflect.DeepEqual(cfg.Server.TrustedProxies, []string{"192.0.2.0/24", "2001:db8::/32"}) {
		t.Errorf("list from environment: %v", cfg.Server.TrustedProxies)
	}
	if cfg.RateLimit.SigninPerIP != 0 || !cfg.SSO.RequireJTI {
		t.Errorf("ints/bools from environment: %+v %+v", cfg.RateLimit, cfg.SSO)
	}
	if len(cfg.Crypto.EncryptionKeys) != 2 || len(cfg.Crypto.EncryptionKeys[2]) != 32 {
		t.Errorf("encryption keys: %d", len(cfg.Crypto.EncryptionKeys))
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		wantKey    string
	}{
		{"unknown key in file", "[server]\nlisten_addr = \"x\"\n", nil, "server.listen_addr"},
		{"unknown section", "[nope]\na = 1\n", nil, "nope.a"},
		{"unknown env key", "", []string{"GATEHOUSE_SSO__CLOCKSKEW=1s"}, "sso.clockskew"},
		{"bad duration", "[sso]\nclock_skew = \"soon\"\n", nil, "sso.clock_skew"},
		{"duration as number", "[session]\nttl = 5\n", nil, "session.ttl"},
		{"bad int", "[server]\nmax_body_bytes = \"big\"\n", nil, "server.max_body_bytes"},
		{"bad bool env", "", []string{"GATEHOUSE_SSO__REQUIRE_JTI=maybe"}, "sso.require_jti"},
		{"bad proxy", "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n", nil, "server.trusted_proxies"},
		{"bad listen", "[server]\nlisten = \"nope\"\n", nil, "server.listen"},
		{"bad public url", "[server]\npublic_url = \"ftp://x\"\n", nil, "server.public_url"},
		{"bad metrics listen", "[server]\nmetrics_listen = \"9464\"\n", nil, "server.metrics_listen"},
		{"listen port above 65535", "[server]\nlisten = \"127.0.0.1:80800\"\n", nil, "server.listen"},
		{"listen port by name", "[server]\nlisten = \"127.0.0.1:http\"\n", nil, "server.listen"},
		{"listen negative port", "[server]\nlisten = \"127.0.0.1:-1\"\n", nil, "server.listen"},
		{"listen host with a space", "[server]\nlisten = \"exa mple:80\"\n", nil, "server.listen"},
		{"metrics port out of range", "", []string{"GATEHOUSE_SERVER__METRICS_LISTEN=127.0.0.1:70000"}, "server.metrics_listen"},
		{"admin listen without port", "[admin]\nlisten = \"127.0.0.1\"\n", nil, "admin.listen"},
		{"admin listen port out of range", "[admin]\nlisten = \"127.0.0.1:65536\"\n", nil, "admin.listen"},
		{"bad forward-auth level", "[log]\nforward_auth_level = \"warn\"\n", nil, "log.forward_auth_level"},
		{"forward-auth level from env", "", []string{"GATEHOUSE_LOG__FORWARD_AUTH_LEVEL=loud"}, "log.forward_auth_level"},
		{"metrics on the public listener", "[server]\nmetrics_listen = \"127.0.0.1:8080\"\n", nil, "server.metrics_listen"},
		{"tls half set", "[server]\ntls_cert = \"a.pem\"\n", nil, "server.tls_cert"},
		{"bad secure", "[session]\nsecure = \"yes\"\n", nil, "session.secure"},
		{"bad level", "[log]\nlevel = \"loud\"\n", nil, "log.level"},
		{"short encryption key", "[crypto]\nencryption_keys = { 1 = \"c2hvcnQ\" }\n", nil, "crypto.encryption_keys.1"},
		{"non-base64 encryption key", "[crypto]\nencryption_keys = { 1 = \"!!!\" }\n", nil, "crypto.encryption_keys.1"},
		{"bad key version", "[crypto]\nencryption_keys = { v1 = \"x\" }\n", nil, "crypto.encryption_keys.v1"},
		{"negative rate", "[ratelimit]\nsignin_per_ip = -1\n", nil, "ratelimit.signin_per_ip"},
		{"zero ttl", "[session]\nttl = \"0s\"\n", nil, "session.ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeTOML(t, tc.file)
			}
			_, err := LoadConfig(path, tc.env)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.Contains(msg, tc.wantKey) {
				t.Errorf("error %q does not name %s", msg, tc.wantKey)
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml"), nil); err == nil {
		t.Error("a missing --config file must be an error")
	}
	p := writeTOML(t, "[server\nlisten=")
	_, err := LoadConfig(p, nil)
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("malformed TOML: %v", err)
	}
}

// TestConfigTOMLErrorPosition: a TOML syntax error names the file, the
// line and the column where parsing stopped, on one line.
func TestConfigTOMLErrorPosition(t *testing.T) {
	cases := []struct {
		name, body string
		line, col  int
	}{
		{"two values on a line", "[server]\nlisten = \"127.0.0.1:8080\"\n\n[session]\nttl = \"8h\" \"x\"\n", 5, 12},
		{"unclosed table header", "# comment\n[server\nlisten = \"x\"\n", 2, 8},
		{"bad escape in a string", "[log]\nlevel = \"in\\qfo\"\n", 2, 13},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTOML(t, tc.body)
			_, err := LoadConfig(p, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			if want := fmt.Sprintf("config %s:%d:%d: toml: ", p, tc.line, tc.col); !strings.HasPrefix(msg, want) {
				t.Errorf("error %q, want it to start with %q", msg, want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
	// go-toml reports a duplicate key without a position; the key and the
	// file are named instead.
	p := writeTOML(t, "[log]\nlevel = \"info\"\nlevel = \"debug\"\n")
	if _, err := LoadConfig(p, nil); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "level") {
		t.Errorf("duplicate key: %v", err)
	}
}

// TestListenAddressesAccepted: every form net.Listen takes for a TCP
// address with a numeric port passes validation.
func TestListenAddressesAccepted(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", ":8080", "0.0.0.0:0", "[::1]:65535", "[::]:443", "localhost:9000", "sso.example.com.:80", "[fe80::1%eth0]:8080"} {
		env := []string{"GATEHOUSE_SERVER__LISTEN=" + addr, "GATEHOUSE_ADMIN__LISTEN=" + addr, "GATEHOUSE_SERVER__METRICS_LISTEN=127.0.0.2:9464"}
		if _, err := LoadConfig("", env); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// TestForwardAuthLevelValues: every documented value of
// log.forward_auth_level loads; debug is the default.
func TestForwardAuthLevelValues(t *testing.T) {
	if got := Defaults().Log.ForwardAuthLevel; got != ForwardAuthLogDebug {
		t.Errorf("default forward_auth_level %q, want debug", got)
	}
	for _, v := range []string{ForwardAuthLogDebug, ForwardAuthLogInfo, ForwardAuthLogOff} {
		cfg, err := LoadConfig(writeTOML(t, "[log]\nforward_auth_level = \""+v+"\"\n"), nil)
		if err != nil || cfg.Log.ForwardAuthLevel != v {
			t.Errorf("%s: %+v %v", v, cfg.Log, err)
		}
	}
}

func TestStorageDriverConfig(t *testing.T) {
	key := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	pgURL := "postgres://gatehouse:hunter2@127.0.0.1:5432/gatehouse"
	cases := []struct {
		name    string
		env     []string
		wantKey string // "" = valid
	}{
		{"bolt default", nil, ""},
		{"unknown driver", []string{"GATEHOUSE_STORAGE__DRIVER=sqlite"}, "storage.driver"},
		{"postgres without url", []string{"GATEHOUSE_STORAGE__DRIVER=postgres", "GATEHOUSE_CRYPTO__ENCRYPTION_KEYS={1=\"" + key + "\"}"}, "storage.postgres_url"},
		{"postgres without keys", []string{"GATEHOUSE_STORAGE__DRIVER=postgres", "GATEHOUSE_STORAGE__POSTGRES_URL=" + pgURL}, "crypto.encryption_keys"},
		{"negative pool", []string{"GATEHOUSE_STORAGE__POSTGRES_MAX_CONNS=-1"}, "storage.postgres_max_conns"},
		{"pool not a number", []string{"GATEHOUSE_STORAGE__POSTGRES_MAX_CONNS=many"}, "storage.postgres_max_conns"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig("", tc.env)
			if tc.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.wantKey) {
				t.Errorf("error %q is not one line naming %s", msg, tc.wantKey)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the database password: %q", err)
			}
		})
	}

	p := writeTOML(t, `
[storage]
driver = "postgres"
postgres_url = "`+pgURL+`"
postgres_max_conns = 12
[crypto]
encryption_keys = { 1 = "`+key+`" }
`)
	cfg, err := LoadConfig(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Driver != DriverPostgres || cfg.Storage.PostgresURL != pgURL || cfg.Storage.PostgresMaxConns != 12 {
		t.Errorf("storage section: %+v", cfg.Storage)
	}
}
