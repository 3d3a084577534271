module flc/crossplane-certs

go 1.22
