package app

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
)

// Config is the whole configuration (SPEC §3). Defaults() holds every default;
// config.toml.example must parse to exactly that (a test keeps them in step).
type Config struct {
	Server    ServerConfig
	Storage   StorageConfig
	Admin     AdminConfig
	Crypto    CryptoConfig
	SSO       SSOConfig
	Session   SessionConfig
	RateLimit RateLimitConfig
	Audit     AuditConfig
	Log       LogConfig
}

// ServerConfig is the [server] section: the public listener.
type ServerConfig struct {
	Listen         string
	PublicURL      string
	TrustedProxies []string
	MaxBodyBytes   int
	TLSCert        string
	TLSKey         string
	// MetricsListen, when set, serves Prometheus /metrics on its own
	// listener; the public one never does (labels name orgs and partners).
	MetricsListen string
}

// StorageConfig is the [storage] section.
type StorageConfig struct {
	Driver string // DriverBolt or DriverPostgres
	Dir    string
	// PostgresURL is a postgres:// URL or key=value DSN (driver postgres).
	PostgresURL string
	// PostgresMaxConns is the pool size; 0 leaves it to the backend's default.
	PostgresMaxConns int
}

// Storage drivers (storage.driver).
const (
	DriverBolt     = "bolt"
	DriverPostgres = "postgres"
)

// AdminConfig is the [admin] section.
type AdminConfig struct {
	Socket      string
	SocketGroup string // when set, the socket is chgrp'd to it and made 0660
	Listen      string
}

// CryptoConfig is the [crypto] section: version → base64url AES-256 key.
type CryptoConfig struct {
	EncryptionKeys map[int][]byte
}

// SSOConfig is the [sso] section: the sign-in verifiers' tolerances.
type SSOConfig struct {
	ClockSkew        time.Duration
	MaxTokenLifetime time.Duration
	RequireJTI       bool
	HMACTolerance    time.Duration
	LoginTokenTTL    time.Duration
	// JWKSRefresh is how often a partner's jwks_url is fetched again;
	// JWKSMinInterval how soon an unknown kid may fetch it again (§4.7).
	JWKSRefresh     time.Duration
	JWKSMinInterval time.Duration
	// AllowInsecureJWKS permits http:// jwks_url on literal loopback IPs.
	AllowInsecureJWKS bool
}

// SessionConfig is the [session] section.
type SessionConfig struct {
	TTL          time.Duration
	CookieName   string
	CookieDomain string
	Secure       string // auto | true | false
	// Assertion adds X-Gatehouse-Assertion (SPEC §4.6) to /auth/verify.
	Assertion    bool
	AssertionTTL time.Duration
}

// RateLimitConfig is the [ratelimit] section (per minute; 0 = off).
type RateLimitConfig struct {
	SigninPerIP      int
	SigninPerPartner int
}

// AuditConfig is the [audit] section.
type AuditConfig struct {
	Retention time.Duration
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level  string
	Format string
	// ForwardAuthLevel is the level of /auth/verify request lines that are
	// answered 2xx–4xx (debug, info or off): a proxy calls it on every page
	// load, so at info they would bury the sign-ins. Its 5xx stay at info.
	ForwardAuthLevel string
}

// Forward-auth log levels (log.forward_auth_level); "off" drops those lines.
const (
	ForwardAuthLogDebug = "debug"
	ForwardAuthLogInfo  = "info"
	ForwardAuthLogOff   = "off"
)

// Defaults returns the embedded defaults: running with no config file uses exactly these.
func Defaults() Config {
	return Config{
		Server:  ServerConfig{Listen: "127.0.0.1:8080", TrustedProxies: []string{}, MaxBodyBytes: 65536},
		Storage: StorageConfig{Driver: DriverBolt, Dir: "./data"},
		Crypto:  CryptoConfig{EncryptionKeys: map[int][]byte{}},
		SSO: SSOConfig{ClockSkew: 60 * time.Second, MaxTokenLifetime: time.Hour, HMACTolerance: 300 * time.Second, LoginTokenTTL: 60 * time.Second,
			JWKSRefresh: 15 * time.Minute, JWKSMinInterval: 30 * time.Second},
		Session:   SessionConfig{TTL: 8 * time.Hour, CookieName: "gatehouse_session", Secure: "auto", Assertion: true, AssertionTTL: 60 * time.Second},
		RateLimit: RateLimitConfig{SigninPerIP: 300},
		Audit:     AuditConfig{Retention: 2160 * time.Hour},
		Log:       LogConfig{Level: "info", Format: "text", ForwardAuthLevel: ForwardAuthLogDebug},
	}
}

// PublicBaseURL is public_url without a trailing slash, or http://<listen>.
func (c Config) PublicBaseURL() string {
	if c.Server.PublicURL != "" {
		return strings.TrimRight(c.Server.PublicURL, "/")
	}
	scheme := "http"
	if c.Server.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + c.Server.Listen
}

// SecureCookies reports whether session cookies carry Secure.
func (c Config) SecureCookies() bool {
	switch c.Session.Secure {
	case "true":
		return true
	case "false":
		return false
	}
	return strings.HasPrefix(c.PublicBaseURL(), "https://")
}

// AdminSocketPath is admin.socket or <storage.dir>/admin.sock.
func (c Config) AdminSocketPath() string {
	if c.Admin.Socket != "" {
		return c.Admin.Socket
	}
	return strings.TrimRight(c.Storage.Dir, "/") + "/admin.sock"
}

// DatabasePath is <storage.dir>/gatehouse.db.
func (c Config) DatabasePath() string {
	return strings.TrimRight(c.Storage.Dir, "/") + "/gatehouse.db"
}

// keyKind is how one configuration key's raw value is read.
type keyKind int

const (
	kindString keyKind = iota
	kindInt
	kindBool
	kindDuration
	kindList
)

// configKeys lists every key; an unlisted key in a file or the environment
// stops start-up (a typo must not silently fall back to a default).
var configKeys = map[string]keyKind{
	"server.listen": kindString, "server.public_url": kindString, "server.trusted_proxies": kindList,
	"server.max_body_bytes": kindInt, "server.tls_cert": kindString, "server.tls_key": kindString, "server.metrics_listen": kindString,
	"storage.dir": kindString, "storage.driver": kindString, "storage.postgres_url": kindString, "storage.postgres_max_conns": kindInt,
	"admin.socket": kindString, "admin.socket_group": kindString, "admin.listen": kindString,
	"sso.clock_skew": kindDuration, "sso.max_token_lifetime": kindDuration, "sso.require_jti": kindBool,
	"sso.hmac_tolerance": kindDuration, "sso.login_token_ttl": kindDuration,
	"sso.jwks_refresh": kindDuration, "sso.jwks_min_interval": kindDuration, "sso.allow_insecure_jwks": kindBool,
	"session.ttl": kindDuration, "session.cookie_name": kindString, "session.cookie_domain": kindString,
	"session.secure": kindString, "session.assertion": kindBool, "session.assertion_ttl": kindDuration,
	"ratelimit.signin_per_ip": kindInt, "ratelimit.signin_per_partner": kindInt,
	"audit.retention": kindDuration,
	"log.level":       kindString, "log.format": kindString, "log.forward_auth_level": kindString,
}

const encryptionKeysPrefix = "crypto.encryption_keys"

// LoadConfig reads defaults, then the TOML file at path (if not empty), then
// GATEHOUSE_<SECTION>__<KEY> variables from environ, and validates the result.
// Errors are one line naming the key.
func LoadConfig(path string, environ []string) (Config, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), toml.Parser()); err != nil {
			// go-toml/v2 knows where the file stops parsing: say it as
			// file:line:column, as compilers do, so an editor can jump there.
			var de *gotoml.DecodeError
			if errors.As(err, &de) {
				line, col := de.Position()
				return Config{}, fmt.Errorf("config %s:%d:%d: %s", path, line, col, oneLine(err.Error()))
			}
			return Config{}, fmt.Errorf("config %s: %s", path, oneLine(err.Error()))
		}
	}
	envVars := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, "GATEHOUSE_") && strings.Contains(name, "__") {
			envVars[name] = value
		}
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix: "GATEHOUSE_",
		TransformFunc: func(name, value string) (string, any) {
			key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "GATEHOUSE_"), "__", "."))
			return key, value
		},
		EnvironFunc: func() []string {
			out := make([]string, 0, len(envVars))
			for name, v := range envVars {
				out = append(out, name+"="+v)
			}
			return out
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return Config{}, fmt.Errorf("config environment: %s", oneLine(err.Error()))
	}
	cfg := Defaults()
	keys := k.Keys()
	sort.Strings(keys)
	for _, key := range keys {
		if err := cfg.set(key, k.Get(key)); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (c *Config) set(key string, raw any) error {
	if rest, ok := strings.CutPrefix(key, encryptionKeysPrefix+"."); ok {
		version, err := strconv.Atoi(rest)
		if err != nil || version < 1 {
			return fmt.Errorf("config: %s: version %q must be a positive integer", key, rest)
		}
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("config: %s: must be a base64url string", key)
		}
		b, err := DecodeEncryptionKey(s)
		if err != nil {
			return fmt.Errorf("config: %s: %v", key, err)
		}
		c.Crypto.EncryptionKeys[version] = b
		return nil
	}
	kind, known := configKeys[key]
	if !known {
		if key == encryptionKeysPrefix {
			return nil // an empty inline table
		}
		return fmt.Errorf("config: %s: unknown key", key)
	}
	var (
		str  string
		num  int
		flag bool
		dur  time.Duration
		list []string
		err  error
	)
	switch kind {
	case kindString:
		str, err = asString(raw)
	case kindInt:
		num, err = asInt(raw)
	case kindBool:
		flag, err = asBool(raw)
	case kindDuration:
		dur, err = asDuration(raw)
	case kindList:
		list, err = asList(raw)
	}
	if err != nil {
		return fmt.Errorf("config: %s: %v", key, err)
	}
	switch key {
	case "server.listen":
		c.Server.Listen = str
	case "server.public_url":
		c.Server.PublicURL = str
	case "server.trusted_proxies":
		c.Server.TrustedProxies = list
	case "server.max_body_bytes":
		c.Server.MaxBodyBytes = num
	case "server.tls_cert":
		c.Server.TLSCert = str
	case "server.tls_key":
		c.Server.TLSKey = str
	case "server.metrics_listen":
		c.Server.MetricsListen = str
	case "storage.dir":
		c.Storage.Dir = str
	case "storage.driver":
		c.Storage.Driver = str
	case "storage.postgres_url":
		c.Storage.PostgresURL = str
	case "storage.postgres_max_conns":
		c.Storage.PostgresMaxConns = num
	case "admin.socket":
		c.Admin.Socket = str
	case "admin.socket_group":
		c.Admin.SocketGroup = str
	case "admin.listen":
		c.Admin.Listen = str
	case "sso.clock_skew":
		c.SSO.ClockSkew = dur
	case "sso.max_token_lifetime":
		c.SSO.MaxTokenLifetime = dur
	case "sso.require_jti":
		c.SSO.RequireJTI = flag
	case "sso.hmac_tolerance":
		c.SSO.HMACTolerance = dur
	case "sso.login_token_ttl":
		c.SSO.LoginTokenTTL = dur
	case "sso.jwks_refresh":
		c.SSO.JWKSRefresh = dur
	case "sso.jwks_min_interval":
		c.SSO.JWKSMinInterval = dur
	case "sso.allow_insecure_jwks":
		c.SSO.AllowInsecureJWKS = flag
	case "session.ttl":
		c.Session.TTL = dur
	case "session.cookie_name":
		c.Session.CookieName = str
	case "session.cookie_domain":
		c.Session.CookieDomain = str
	case "session.secure":
		c.Session.Secure = str
	case "session.assertion":
		c.Session.Assertion = flag
	case "session.assertion_ttl":
		c.Session.AssertionTTL = dur
	case "ratelimit.signin_per_ip":
		c.RateLimit.SigninPerIP = num
	case "ratelimit.signin_per_partner":
		c.RateLimit.SigninPerPartner = num
	case "audit.retention":
		c.Audit.Retention = dur
	case "log.level":
		c.Log.Level = str
	case "log.format":
		c.Log.Format = str
	case "log.forward_auth_level":
		c.Log.ForwardAuthLevel = str
	}
	return nil
}

func asString(raw any) (string, error) {
	if s, ok := raw.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("must be a string, got %v", raw)
}

func asInt(raw any) (int, error) {
	switch v := raw.(type) {
	case int64:
		return int(v), nil
	case int:
		return v, nil
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("must be an integer, got %v", raw)
}

func asBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("must be true or false, got %v", raw)
}

func asDuration(raw any) (time.Duration, error) {
	s, ok := raw.(string)
	if !ok {
		return 0, fmt.Errorf("must be a duration string such as \"60s\", got %v", raw)
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. \"60s\", \"8h\")", s)
	}
	return d, nil
}

func asList(raw any) ([]string, error) {
	switch v := raw.(type) {
	case []any:
		out := make([]string, 0, len(v))
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("entry %d must be a string", i)
			}
			out = append(out, s)
		}
		return out, nil
	case string: // from the environment: comma-separated
		out := []string{}
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a list of strings, got %v", raw)
}

// DecodeEncryptionKey parses a base64url (padded or not) 32-byte key.
func DecodeEncryptionKey(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
	if err != nil {
		return nil, fmt.Errorf("not base64url")
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(b))
	}
	return b, nil
}

// Validate checks values that parse but make no sense.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if err := checkListen(c.Server.Listen); err != nil {
		return bad("server.listen", "%q %v", c.Server.Listen, err)
	}
	if c.Server.PublicURL != "" {
		u, err := url.Parse(c.Server.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return bad("server.public_url", "%q is not an absolute http(s) URL", c.Server.PublicURL)
		}
	}
	for i, p := range c.Server.TrustedProxies {
		if _, err := parseIPOrPrefix(p); err != nil {
			return bad("server.trusted_proxies", "entry %d %q is not an IP or CIDR", i, p)
		}
	}
	if c.Server.MaxBodyBytes < 1024 || c.Server.MaxBodyBytes > 16<<20 {
		return bad("server.max_body_bytes", "must be between 1024 and 16777216")
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		return bad("server.tls_cert", "tls_cert and tls_key must be set together")
	}
	if c.Server.MetricsListen != "" {
		if err := checkListen(c.Server.MetricsListen); err != nil {
			return bad("server.metrics_listen", "%q %v", c.Server.MetricsListen, err)
		}
		if c.Server.MetricsListen == c.Server.Listen {
			return bad("server.metrics_listen", "must differ from server.listen: the public listener serves no metrics")
		}
	}
	if c.Storage.Dir == "" {
		return bad("storage.dir", "must not be empty")
	}
	if err := c.Storage.validate(len(c.Crypto.EncryptionKeys) > 0); err != nil {
		return err
	}
	if c.Admin.Listen != "" {
		if err := checkListen(c.Admin.Listen); err != nil {
			return bad("admin.listen", "%q %v", c.Admin.Listen, err)
		}
	}
	for name, d := range map[string]time.Duration{
		"sso.clock_skew": c.SSO.ClockSkew, "sso.max_token_lifetime": c.SSO.MaxTokenLifetime,
		"sso.hmac_tolerance": c.SSO.HMACTolerance, "sso.login_token_ttl": c.SSO.LoginTokenTTL,
		"sso.jwks_refresh": c.SSO.JWKSRefresh, "sso.jwks_min_interval": c.SSO.JWKSMinInterval,
		"session.ttl": c.Session.TTL, "audit.retention": c.Audit.Retention, "session.assertion_ttl": c.Session.AssertionTTL,
	} {
		if d < 0 || (d == 0 && name != "sso.clock_skew") {
			return bad(name, "must be positive")
		}
	}
	if c.SSO.ClockSkew > 10*time.Minute {
		return bad("sso.clock_skew", "must be at most 10m")
	}
	if c.SSO.JWKSRefresh < 10*time.Second {
		return bad("sso.jwks_refresh", "must be at least 10s")
	}
	if c.SSO.JWKSMinInterval > c.SSO.JWKSRefresh {
		return bad("sso.jwks_min_interval", "must not exceed sso.jwks_refresh")
	}
	if c.SSO.LoginTokenTTL > 10*time.Minute {
		return bad("sso.login_token_ttl", "must be at most 10m")
	}
	if c.Session.CookieName == "" || strings.ContainsAny(c.Session.CookieName, " ;,=\t\r\n\"") {
		return bad("session.cookie_name", "%q is not a valid cookie name", c.Session.CookieName)
	}
	if strings.ContainsAny(c.Session.CookieDomain, " ;,\t\r\n\"") {
		return bad("session.cookie_domain", "%q is not a valid cookie domain", c.Session.CookieDomain)
	}
	switch c.Session.Secure {
	case "auto", "true", "false":
	default:
		return bad("session.secure", "must be auto, true or false")
	}
	if c.Session.AssertionTTL > time.Hour {
		return bad("session.assertion_ttl", "must be at most 1h (an assertion is reissued, not kept)")
	}
	if c.RateLimit.SigninPerIP < 0 {
		return bad("ratelimit.signin_per_ip", "must be 0 (off) or positive")
	}
	if c.RateLimit.SigninPerPartner < 0 {
		return bad("ratelimit.signin_per_partner", "must be 0 (off) or positive")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json")
	}
	switch c.Log.ForwardAuthLevel {
	case ForwardAuthLogDebug, ForwardAuthLogInfo, ForwardAuthLogOff:
	default:
		return bad("log.forward_auth_level", "%q must be debug, info or off", c.Log.ForwardAuthLevel)
	}
	return nil
}

// checkListen checks a TCP listen address while the config is read, so a
// typo stops start-up before the data directory, key file or database is
// created: host:port, the host empty (every interface), an IP or a DNS
// name, the port a number from 0 (any free port) to 65535.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not host:port")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q must be a number from 0 to 65535", port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("host %q is not an IP address or host name", host)
	}
	return nil
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// 1–63 letters, digits and inner hyphens, 253 characters in all.
func validHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

// parseIPOrPrefix strictly parses "192.0.2.1", "2001:db8::1" or a CIDR.
func parseIPOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zones are not allowed")
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// LookupConfigPath returns --config's value or GATEHOUSE_CONFIG.
func LookupConfigPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("GATEHOUSE_CONFIG")
}

// validate checks the backend choice. With several instances on one
// database every instance must open every sealed secret, and a key file
// generated per instance would differ, so postgres requires configured keys.
func (s StorageConfig) validate(haveKeys bool) error {
	if s.PostgresMaxConns < 0 || s.PostgresMaxConns > 10000 {
		return errors.New("config: storage.postgres_max_conns: must be 0 (the default) or between 1 and 10000")
	}
	switch s.Driver {
	case DriverBolt:
		return nil
	case DriverPostgres:
	default:
		return fmt.Errorf("config: storage.driver: %q is not bolt or postgres", s.Driver)
	}
	if strings.TrimSpace(s.PostgresURL) == "" {
		return errors.New("config: storage.postgres_url: must be set when storage.driver is postgres")
	}
	if !haveKeys {
		return errors.New("config: crypto.encryption_keys: must be set when storage.driver is postgres (every instance must open the same sealed secrets; a generated key file would differ per instance)")
	}
	return nil
}
