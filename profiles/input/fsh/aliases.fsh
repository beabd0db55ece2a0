// External code systems and identifier namespaces (French OIDs as urn:oid URIs).
Alias: $v2-0203 = http://terminology.hl7.org/CodeSystem/v2-0203
Alias: $edqm = http://standardterms.edqm.eu
Alias: $atc = http://www.whocc.no/atc
Alias: $sct = http://snomed.info/sct
Alias: $icd10 = http://hl7.org/fhir/sid/icd-10
Alias: $cip13 = urn:oid:1.2.250.1.213.2.3.2
Alias: $ucd = urn:oid:1.2.250.1.213.2.61
Alias: $ins-nir = urn:oid:1.2.250.1.213.1.4.8
Alias: $ins-nia = urn:oid:1.2.250.1.213.1.4.9
Alias: $ins-nir-test = urn:oid:1.2.250.1.213.1.4.10
Alias: $idnps = urn:oid:1.2.250.1.71.4.2.1
Alias: $idnst = urn:oid:1.2.250.1.71.4.2.2
Alias: $flag-detail = http://hl7.org/fhir/StructureDefinition/flag-detail

// Our own canonical URLs.
Alias: $parcours-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-parcours
Alias: $sequence-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-sequence
Alias: $colour-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-alert-colour
Alias: $alert-type-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-alert-type
Alias: $share-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-actor-share
Alias: $forfait-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-forfait
Alias: $grade-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-grade
Alias: $missed-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-missed-doses
Alias: $careplan-cat-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category
Alias: $team-role-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-care-team-role
Alias: $task-type-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-task-type
Alias: $message-cat-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-message-category
Alias: $identity-cs = https://oncolink.example.org/fhir/CodeSystem/oncolink-identity-status
Alias: $forfait-sid = https://oncolink.example.org/fhir/sid/forfait
Alias: $pro-questionnaire = https://oncolink.example.org/fhir/Questionnaire/oncolink-pro-hebdo
