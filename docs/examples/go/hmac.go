//go:build ignore

// HMAC partner sign-in in Go, standard library only. Step 1 runs server to
// server: POST /sso/hmac/token, signed with the consumer secret. Step 2 is the
// person's browser: redirect it to the login_url of the answer.
//
//	Run it:  GATEHOUSE_URL=https://sso.example.com CONSUMER_KEY=ck_... CONSUMER_SECRET=cs_... \
//	         TENANT_ID=t1 USER_EMAIL=ann@example.com USER_ROLE=readOnly go run hmac.go
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

type loginRequest struct {
	TenantID string `json:"tenantId"`
	Email    string `json:"email"`
	Role     string `json:"role"` // "admin" or "readOnly"
	Name     string `json:"name,omitempty"`
	Nonce    string `json:"nonce"` // 16-128 of A-Z a-z 0-9 _ -, never reused
	ReturnTo string `json:"return_to,omitempty"`
}

type loginAnswer struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
	LoginURL  string `json:"login_url"`
}

// requestLogin asks Gatehouse for a one-time login URL.
func requestLogin(base, consumerKey, consumerSecret string, in loginRequest) (loginAnswer, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return loginAnswer{}, err
	}
	timestamp := time.Now().UTC().Format(time.RFC3339)
	mac := hmac.New(sha256.New, []byte(consumerSecret)) // the whole cs_... string is the key
	mac.Write([]byte(timestamp + "|" + consumerKey + "|"))
	mac.Write(body) // exactly the bytes sent
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+"/sso/hmac/token", bytes.NewReader(body))
	if err != nil {
		return loginAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Consumer-Key", consumerKey)
	req.Header.Set("X-Timestamp", timestamp)
	req.Header.Set("X-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return loginAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return loginAnswer{}, fmt.Errorf("gatehouse: %s: %s", resp.Status, raw)
	}
	var out loginAnswer
	return out, json.Unmarshal(raw, &out)
}

func main() {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	ans, err := requestLogin(os.Getenv("GATEHOUSE_URL"), os.Getenv("CONSUMER_KEY"), os.Getenv("CONSUMER_SECRET"), loginRequest{
		TenantID: os.Getenv("TENANT_ID"), Email: os.Getenv("USER_EMAIL"), Role: os.Getenv("USER_ROLE"),
		Name: os.Getenv("USER_NAME"), Nonce: hex.EncodeToString(nonce), ReturnTo: os.Getenv("RETURN_TO"),
	})
	if err != nil {
		log.Fatal(err)
	}
	// In a portal's handler: http.Redirect(w, r, ans.LoginURL, http.StatusFound)
	fmt.Println(ans.LoginURL)
}
