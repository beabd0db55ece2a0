// A complete, coherent example: Jeanne Martin, breast cancer, capecitabine (parcours A), first sequence.
// CIP13, UCD, INS and RPPS values are made up: they have the right shape, not real owners.

Instance: patient-jeanne-martin
InstanceOf: OncoLinkPatient
Title: "Patiente Jeanne Martin"
Description: "Identité qualifiée, INS de test et IPP de l'établissement."
Usage: #example
* extension[identityStatus].valueCoding = $identity-cs#QUAL "Identité qualifiée"
* identifier[INS-NIR-TEST].use = #official
* identifier[INS-NIR-TEST].value = "248027512345678"
* identifier[1].use = #usual
* identifier[1].type = $v2-0203#PI "Patient internal identifier"
* identifier[1].system = "urn:oid:1.2.250.1.71.4.2.7.999"
* identifier[1].value = "IPP00012345"
* name.use = #official
* name.family = "Martin"
* name.given = "Jeanne"
* gender = #female
* birthDate = "1948-02-20"
* address.city = "Lyon"
* address.postalCode = "69003"
* address.country = "FR"

Instance: prescriber-claire-roux
InstanceOf: OncoLinkPrescriber
Title: "Docteure Claire Roux, oncologue"
Usage: #example
* identifier[idnps].value = "810001234567"
* name.family = "Roux"
* name.given = "Claire"
* name.prefix = "Dr"

Instance: gp-paul-petit
InstanceOf: Practitioner
Title: "Docteur Paul Petit, médecin traitant"
Usage: #example
* identifier.system = $idnps
* identifier.value = "810007654321"
* name.family = "Petit"
* name.given = "Paul"

Instance: org-oncologie-lyon
InstanceOf: Organization
Title: "Service d'oncologie médicale"
Usage: #example
* identifier.system = $idnst
* identifier.value = "1690000001"
* name = "Centre hospitalier de Lyon — oncologie médicale"

Instance: org-pharmacie-lilas
InstanceOf: Organization
Title: "Pharmacie des Lilas"
Usage: #example
* identifier.system = $idnst
* identifier.value = "1690000002"
* name = "Pharmacie des Lilas"

Instance: condition-cancer-sein
InstanceOf: Condition
Title: "Cancer du sein"
Usage: #example
* clinicalStatus = http://terminology.hl7.org/CodeSystem/condition-clinical#active
* verificationStatus = http://terminology.hl7.org/CodeSystem/condition-ver-status#confirmed
* code = $icd10#C50.9 "Tumeur maligne du sein, sans précision"
* subject = Reference(patient-jeanne-martin)

Instance: mr-capecitabine
InstanceOf: OncoLinkOralAnticancerRequest
Title: "Capécitabine 500 mg, voie orale"
Usage: #example
* extension[hospitalReserve].valueBoolean = false
* extension[sequence3Allowed].valueBoolean = true
* status = #active
* intent = #order
* medicationCodeableConcept.coding[cip13] = $cip13#3400930000001 "CAPECITABINE 500 mg, comprimé pelliculé, boîte de 120"
* medicationCodeableConcept.coding[atc] = $atc#L01BC06 "capecitabine"
* medicationCodeableConcept.text = "Capécitabine 500 mg comprimé"
* subject = Reference(patient-jeanne-martin)
* authoredOn = "2025-11-03"
* requester = Reference(prescriber-claire-roux)
* reasonReference = Reference(condition-cancer-sein)
* dosageInstruction.text = "1 000 mg matin et soir, 14 jours sur 21"
* dosageInstruction.route = $edqm#20053000 "Voie orale"
* dosageInstruction.timing.repeat.frequency = 2
* dosageInstruction.timing.repeat.period = 1
* dosageInstruction.timing.repeat.periodUnit = #d
* dosageInstruction.doseAndRate.doseQuantity = 1000 'mg' "mg"
* dispenseRequest.numberOfRepeatsAllowed = 2

Instance: team-jeanne-martin
InstanceOf: OncoLinkCareTeam
Title: "Équipe de soins de Jeanne Martin"
Usage: #inline
* status = #active
* subject = Reference(patient-jeanne-martin)
* participant[hospitalTeam].role = $team-role-cs#hospital-team "Équipe hospitalière"
* participant[hospitalTeam].member = Reference(org-oncologie-lyon)
* participant[communityPharmacy].role = $team-role-cs#community-pharmacy "Pharmacie d'officine"
* participant[communityPharmacy].member = Reference(org-pharmacie-lilas)
* participant[gp].role = $team-role-cs#gp "Médecin traitant"
* participant[gp].member = Reference(gp-paul-petit)

Instance: care-team-jeanne-martin
InstanceOf: OncoLinkCareTeam
Title: "Équipe de soins (ressource autonome)"
Usage: #example
* status = #active
* subject = Reference(patient-jeanne-martin)
* participant[hospitalTeam].role = $team-role-cs#hospital-team "Équipe hospitalière"
* participant[hospitalTeam].member = Reference(org-oncologie-lyon)
* participant[communityPharmacy].role = $team-role-cs#community-pharmacy "Pharmacie d'officine"
* participant[communityPharmacy].member = Reference(org-pharmacie-lilas)
* participant[gp].role = $team-role-cs#gp "Médecin traitant"
* participant[gp].member = Reference(gp-paul-petit)

Instance: episode-jeanne-martin
InstanceOf: OncoLinkEpisode
Title: "Épisode Onco'Link de Jeanne Martin"
Usage: #example
* contained[0] = team-jeanne-martin
* extension[parcours].valueCoding = $parcours-cs#A "Parcours A"
* extension[currentSequence].valueCoding = $sequence-cs#1 "Séquence 1 — initiation"
* extension[sequence3Allowed].valueBoolean = true
* extension[telemonitoring].valueBoolean = true
* status = #active
* intent = #plan
* category[episode] = $careplan-cat-cs#episode "Épisode Onco'Link"
* title = "Épisode Onco'Link — capécitabine"
* subject = Reference(patient-jeanne-martin)
* period.start = "2025-11-03"
* careTeam = Reference(team-jeanne-martin)
* addresses = Reference(condition-cancer-sein)
* activity.reference = Reference(mr-capecitabine)
* instantiatesCanonical = "https://oncolink.example.org/fhir/PlanDefinition/oncolink-pathway"

Instance: sequence-jeanne-martin-1
InstanceOf: OncoLinkSequenceCarePlan
Title: "Séquence 1 de Jeanne Martin"
Usage: #example
* extension[number].valueCoding = $sequence-cs#1 "Séquence 1 — initiation"
* extension[renewal].valueUnsignedInt = 0
* status = #active
* intent = #plan
* category[sequence] = $careplan-cat-cs#sequence "Séquence Onco'Link"
* partOf = Reference(episode-jeanne-martin)
* subject = Reference(patient-jeanne-martin)
* period.start = "2025-11-03"
* period.end = "2025-12-02"
