Profile: OncoLinkPatient
Parent: Patient
Id: oncolink-patient
Title: "Patient Onco'Link"
Description: "Patient suivi dans le parcours : identifié par son INS (NIR ou NIA, OID de test accepté) ou, à défaut, par l'IPP de l'établissement ; statut de l'identité selon l'identitovigilance."
* ^status = #active
* obeys oncolink-pat-1 and oncolink-pat-2
* extension contains OncoLinkIdentityStatusExt named identityStatus 0..1
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier ^slicing.description = "INS par OID ; les autres identifiants (IPP…) restent libres."
* identifier contains INS-NIR 0..1 and INS-NIA 0..1 and INS-NIR-TEST 0..1
* identifier[INS-NIR].system = $ins-nir (exactly)
* identifier[INS-NIR].value 1..1
* identifier[INS-NIR].value ^maxLength = 15
* identifier[INS-NIR] obeys oncolink-ins-1
* identifier[INS-NIA].system = $ins-nia (exactly)
* identifier[INS-NIA].value 1..1
* identifier[INS-NIA].value ^maxLength = 15
* identifier[INS-NIA] obeys oncolink-ins-1
* identifier[INS-NIR-TEST].system = $ins-nir-test (exactly)
* identifier[INS-NIR-TEST].value 1..1
* identifier[INS-NIR-TEST].value ^maxLength = 15
* identifier[INS-NIR-TEST] obeys oncolink-ins-1
* name 1..*
* gender 1..1
* birthDate 1..1

Invariant: oncolink-pat-1
Description: "Le patient doit être identifié par un INS ou par un IPP (identifiant de type PI)."
Severity: #error
Expression: "identifier.system contains 'urn:oid:1.2.250.1.213.1.4.8' or identifier.system contains 'urn:oid:1.2.250.1.213.1.4.9' or identifier.system contains 'urn:oid:1.2.250.1.213.1.4.10' or identifier.type.coding.code contains 'PI'"

Invariant: oncolink-pat-2
Description: "Un INS ne devrait être échangé que pour une identité qualifiée."
Severity: #warning
Expression: "(identifier.system contains 'urn:oid:1.2.250.1.213.1.4.8' or identifier.system contains 'urn:oid:1.2.250.1.213.1.4.9') implies extension('https://oncolink.example.org/fhir/StructureDefinition/oncolink-identity-status').value.code = 'QUAL'"

Invariant: oncolink-ins-1
Description: "Un matricule INS compte 15 caractères : 13 pour le NIR (2A ou 2B admis pour la Corse) et 2 chiffres de clé."
Severity: #error
Expression: "value.matches('^[0-9]{5}([0-9]{2}|2A|2B)[0-9]{8}$')"

Profile: OncoLinkPrescriber
Parent: Practitioner
Id: oncolink-prescriber
Title: "Prescripteur hospitalier"
Description: "Oncologue ou autre médecin prescripteur, identifié par son identifiant national (RPPS précédé de 8)."
* ^status = #active
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains idnps 1..1
* identifier[idnps].system = $idnps (exactly)
* identifier[idnps].value 1..1
* identifier[idnps] obeys oncolink-rpps-1
* name 1..*

Invariant: oncolink-rpps-1
Description: "L'identifiant national d'un professionnel inscrit au RPPS est 8 suivi des 11 chiffres du RPPS."
Severity: #error
Expression: "value.matches('^8[0-9]{11}$')"
