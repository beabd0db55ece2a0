Profile: OncoLinkOralAnticancerRequest
Parent: MedicationRequest
Id: oncolink-oral-anticancer-request
Title: "Prescription d'anticancéreux oral"
Description: "Ligne de prescription hospitalière d'un anticancéreux oral (classes ATC L01 ou L02, voie orale), codée en CIP13 ou UCD et en ATC, avec l'indicateur de réserve hospitalière qui détermine le parcours."
* ^status = #active
* extension contains
    OncoLinkHospitalReserveExt named hospitalReserve 1..1 and
    OncoLinkSequence3AllowedExt named sequence3Allowed 0..1
* intent = #order
* medication[x] only CodeableConcept
* medicationCodeableConcept 1..1
* medicationCodeableConcept obeys oncolink-mr-2
* medicationCodeableConcept.coding 1..*
* medicationCodeableConcept.coding ^slicing.discriminator.type = #value
* medicationCodeableConcept.coding ^slicing.discriminator.path = "system"
* medicationCodeableConcept.coding ^slicing.rules = #open
* medicationCodeableConcept.coding contains cip13 0..1 and ucd 0..1 and atc 1..1
* medicationCodeableConcept.coding[cip13].system = $cip13 (exactly)
* medicationCodeableConcept.coding[cip13].code 1..1
* medicationCodeableConcept.coding[cip13].code ^maxLength = 13
* medicationCodeableConcept.coding[cip13] obeys oncolink-cip-1
* medicationCodeableConcept.coding[ucd].system = $ucd (exactly)
* medicationCodeableConcept.coding[ucd].code 1..1
* medicationCodeableConcept.coding[ucd].code ^maxLength = 13
* medicationCodeableConcept.coding[atc].system = $atc (exactly)
* medicationCodeableConcept.coding[atc].code 1..1
* medicationCodeableConcept.coding[atc].code ^maxLength = 7
* medicationCodeableConcept.coding[atc] obeys oncolink-mr-1
* subject only Reference(OncoLinkPatient)
* authoredOn 1..1
* requester 1..1
* requester only Reference(OncoLinkPrescriber or PractitionerRole)
* reasonReference only Reference(Condition)
* dosageInstruction 1..*
* dosageInstruction.route 1..1
* dosageInstruction.route = $edqm#20053000 "Voie orale"
* dispenseRequest.numberOfRepeatsAllowed ^maxValueUnsignedInt = 12

Invariant: oncolink-mr-1
Description: "Un anticancéreux oral appartient aux classes ATC L01 (antinéoplasiques) ou L02 (thérapeutique endocrine)."
Severity: #error
Expression: "code.startsWith('L01') or code.startsWith('L02')"

Invariant: oncolink-mr-2
Description: "Le médicament doit être codé par sa présentation (CIP13) ou par son unité commune de dispensation (UCD)."
Severity: #error
Expression: "coding.system contains 'urn:oid:1.2.250.1.213.2.3.2' or coding.system contains 'urn:oid:1.2.250.1.213.2.61'"

Invariant: oncolink-cip-1
Description: "Un code CIP13 compte 13 chiffres et commence par 3400."
Severity: #error
Expression: "code.matches('^3400[0-9]{9}$')"
