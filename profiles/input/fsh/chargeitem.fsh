Profile: OncoLinkForfaitChargeItem
Parent: ChargeItem
Id: oncolink-forfait
Title: "Forfait Onco'Link"
Description: "Part de forfait due à un acteur : forfait de séquence (par parcours et séquence, réparti entre établissement, officine et médecin traitant) ou forfait mensuel de télésurveillance. L'identifiant rend chaque facturation unique."
* ^status = #active
* obeys oncolink-ci-1 and oncolink-ci-2
* extension contains
    OncoLinkParcoursExt named parcours 0..1 and
    OncoLinkSequenceNumberExt named sequence 0..1
* identifier 1..1
* identifier.system 1..1
* identifier.value 1..1
* code from OncoLinkForfaitVS (required)
* subject only Reference(OncoLinkPatient)
* occurrence[x] 1..1
* occurrence[x] only Period
* performer 1..1
* performer.function 1..1
* performer.function from OncoLinkActorShareVS (required)
* performer.actor only Reference(Organization or Practitioner or PractitionerRole)
* enteredDate 1..1
* priceOverride 1..1
* priceOverride.value 1..1
* priceOverride.value ^minValueDecimal = 0
* priceOverride.currency 1..1
* priceOverride.currency = #EUR (exactly)
* supportingInformation 1..*
* supportingInformation only Reference(OncoLinkSequenceCarePlan or OncoLinkEpisode)

Invariant: oncolink-ci-1
Description: "Un forfait de séquence indique le parcours et la séquence facturée."
Severity: #error
Expression: "code.coding.code contains 'sequence' implies (extension('https://oncolink.example.org/fhir/StructureDefinition/oncolink-parcours').exists() and extension('https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence-number').exists())"

Invariant: oncolink-ci-2
Description: "Le forfait de télésurveillance revient à l'opérateur de télésurveillance."
Severity: #error
Expression: "code.coding.code contains 'telemonitoring' implies performer.function.coding.code contains 'telemonitoring-operator'"
