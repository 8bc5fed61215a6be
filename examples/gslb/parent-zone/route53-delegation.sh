#!/bin/sh
# Route 53: the hosted zone example.com delegates gslb.example.com to fulcrum's
# two GSLB name servers — an NS record set for the subdomain, and A records
# (glue) for the name servers, which live inside it. Keep them in step with
# ns: in ../gslb.yaml. Route 53 answers the NS set with the A records as glue.
#
#   ZONE_ID=Z0123456789ABCDEFGHIJ sh route53-delegation.sh
set -eu
cat > /tmp/gslb-delegation.json <<'JSON'
{
  "Comment": "Delegate gslb.example.com to fulcrum GSLB",
  "Changes": [
    { "Action": "UPSERT", "ResourceRecordSet": { "Name": "gslb.example.com.", "Type": "NS", "TTL": 3600,
        "ResourceRecords": [ { "Value": "ns1.gslb.example.com." }, { "Value": "ns2.gslb.example.com." } ] } },
    { "Action": "UPSERT", "ResourceRecordSet": { "Name": "ns1.gslb.example.com.", "Type": "A", "TTL": 3600,
        "ResourceRecords": [ { "Value": "192.0.2.53" } ] } },
    { "Action": "UPSERT", "ResourceRecordSet": { "Name": "ns2.gslb.example.com.", "Type": "A", "TTL": 3600,
        "ResourceRecords": [ { "Value": "198.51.100.53" } ] } }
  ]
}
JSON
aws route53 change-resource-record-sets --hosted-zone-id "$ZONE_ID" --change-batch file:///tmp/gslb-delegation.json
