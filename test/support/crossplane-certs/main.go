// Command crossplane-certs issues certificates exactly the way Crossplane
// v2.2.1 does (internal/initializer/tls.go and cert_generator.go): RSA 2048,
// PKCS#1 keys, serial 2022, subject C=Earth, ST=Earth, L=Earth, O=Crossplane,
// CN=Crossplane on every certificate (so a leaf's issuer equals its own
// subject), no authority key identifier set by hand. OpenSSL's CLI refuses a
// five-letter country, and Go's x509 writes it, so these are made with Go.
//
//	crossplane-certs ca     DIR                 → DIR/tls.crt, DIR/tls.key (root CA, 10 years, like crossplane-root-ca)
//	crossplane-certs client CADIR DIR [NAME...] → DIR/tls.crt, tls.key, ca.crt (EKU clientAuth, like crossplane-tls-client)
//	crossplane-certs server CADIR DIR [NAME...] → the same with EKU serverAuth (like a function's -tls-server secret)
//
// NAME is a DNS name, or an IP address (added as an IP SAN, which Crossplane's
// own server certificates never carry). Flags for tests: -not-after
// (RFC 3339) makes an expired certificate; -eku overrides the usage.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

var pkixName = pkix.Name{
	CommonName:   "Crossplane",
	Organization: []string{"Crossplane"},
	Country:      []string{"Earth"},
	Province:     []string{"Earth"},
	Locality:     []string{"Earth"},
}

func main() {
	notAfter := flag.String("not-after", "", "RFC 3339 end of validity (default: 10 years from now)")
	notBefore := flag.String("not-before", "", "RFC 3339 start of validity (default: now)")
	eku := flag.String("eku", "", "override the extended key usage: client, server or any")
	flag.Parse()
	if err := run(flag.Args(), *notBefore, *notAfter, *eku); err != nil {
		fmt.Fprintln(os.Stderr, "crossplane-certs:", err)
		os.Exit(1)
	}
}

func run(args []string, notBefore, notAfter, eku string) error {
	if len(args) < 2 {
		return errors.New("usage: crossplane-certs ca DIR | client CADIR DIR [NAME...] | server CADIR DIR [NAME...]")
	}
	from, to := time.Now(), time.Now().AddDate(10, 0, 0)
	var err error
	if notBefore != "" {
		if from, err = time.Parse(time.RFC3339, notBefore); err != nil {
			return fmt.Errorf("parsing -not-before: %w", err)
		}
	}
	if notAfter != "" {
		if to, err = time.Parse(time.RFC3339, notAfter); err != nil {
			return fmt.Errorf("parsing -not-after: %w", err)
		}
	}
	switch args[0] {
	case "ca":
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(2022),
			Subject:               pkixName,
			Issuer:                pkixName,
			DNSNames:              []string{"crossplane-root-ca"},
			NotBefore:             from,
			NotAfter:              to,
			IsCA:                  true,
			KeyUsage:              x509.KeyUsageCRLSign | x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
		}
		return issue(tmpl, nil, nil, args[1])
	case "client", "server":
		if len(args) < 3 {
			return fmt.Errorf("%s needs CADIR and DIR", args[0])
		}
		caCert, caKey, err := load(args[1])
		if err != nil {
			return err
		}
		usage := x509.ExtKeyUsageClientAuth
		if args[0] == "server" {
			usage = x509.ExtKeyUsageServerAuth
		}
		switch eku {
		case "":
		case "client":
			usage = x509.ExtKeyUsageClientAuth
		case "server":
			usage = x509.ExtKeyUsageServerAuth
		case "any":
			usage = x509.ExtKeyUsageAny
		default:
			return fmt.Errorf("-eku %q: want client, server or any", eku)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(2022),
			Subject:               pkixName,
			NotBefore:             from,
			NotAfter:              to,
			IsCA:                  false,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
			ExtKeyUsage:           []x509.ExtKeyUsage{usage},
			BasicConstraintsValid: true,
		}
		for _, n := range args[3:] {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
		if len(tmpl.DNSNames) == 0 {
			tmpl.DNSNames = []string{"crossplane"}
		}
		if err := issue(tmpl, caCert, caKey, args[2]); err != nil {
			return err
		}
		ca, err := os.ReadFile(filepath.Join(args[1], "tls.crt"))
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(args[2], "ca.crt"), ca, 0o644)
	default:
		return fmt.Errorf("unknown kind %q", args[0])
	}
}

func load(dir string) (*x509.Certificate, *rsa.PrivateKey, error) {
	crtPEM, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "tls.key"))
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s: tls.crt or tls.key is not PEM", dir)
	}
	crt, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(kb.Bytes); err == nil {
		key = k
	} else if k8, err2 := x509.ParsePKCS8PrivateKey(kb.Bytes); err2 == nil {
		rk, ok := k8.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("%s/tls.key is not an RSA key", dir)
		}
		key = rk
	} else {
		return nil, nil, fmt.Errorf("%s/tls.key: %w", dir, err)
	}
	return crt, key, nil
}

// issue mirrors Crossplane's CertGenerator.Generate: a new RSA 2048 key,
// signed by the signer (or by itself when there is none).
func issue(tmpl, signer *x509.Certificate, signerKey *rsa.PrivateKey, dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if signer == nil {
		signer, signerKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}
