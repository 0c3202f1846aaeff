module local/kyverno

go 1.25
