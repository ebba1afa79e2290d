package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
)

// memberlistKey turns MetalLB's memberlist secret (Secret "memberlist",
// key "secretkey", any text, typically `openssl rand -base64 128`) into
// an AES-256 key: the SHA-256 of the text with surrounding white space
// removed. It reads file when set, else uses env. No secret returns a nil
// key (gossip in clear); an empty one is an error, as it is surely a
// mistake. src says where the key came from.
func memberlistKey(file, env string) (key []byte, src string, err error) {
	secret := env
	src = "$" + envMLSecret
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("memberlist secret: %w", err)
		}
		secret, src = string(b), file
	} else if env == "" {
		return nil, "none", nil
	}
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil, "", fmt.Errorf("memberlist secret from %s: %w", src, errors.New("empty"))
	}
	sum := sha256.Sum256([]byte(secret))
	return sum[:], src, nil
}
