Profile: OncoLinkCareTeam
Parent: CareTeam
Id: oncolink-care-team
Title: "Équipe de soins d'un épisode"
Description: "Équipe hospitalière, pharmacie d'officine et médecin traitant d'un patient, auxquels s'ajoutent les infirmières. Elle est contenue dans le plan de l'épisode pour que chaque membre retrouve ses patients par une recherche sur le plan."
* ^status = #active
* obeys oncolink-team-1
* participant 2..*
* participant.role 1..1
* participant.role from OncoLinkCareTeamRoleVS (extensible)
* participant.member 1..1
* participant ^slicing.discriminator.type = #pattern
* participant ^slicing.discriminator.path = "role"
* participant ^slicing.rules = #open
* participant ^slicing.description = "Un membre par rôle pour l'équipe hospitalière, l'officine et le médecin traitant."
* participant contains hospitalTeam 1..1 and communityPharmacy 1..1 and gp 0..1
* participant[hospitalTeam].role = $team-role-cs#hospital-team
* participant[hospitalTeam].member only Reference(Organization)
* participant[communityPharmacy].role = $team-role-cs#community-pharmacy
* participant[communityPharmacy].member only Reference(Organization)
* participant[gp].role = $team-role-cs#gp
* participant[gp].member only Reference(Practitioner or PractitionerRole)

Invariant: oncolink-team-1
Description: "Le médecin traitant devrait faire partie de l'équipe de soins."
Severity: #warning
Expression: "participant.role.coding.code contains 'gp'"

Profile: OncoLinkEpisode
Parent: CarePlan
Id: oncolink-episode
Title: "Épisode Onco'Link"
Description: "Plan de soins de l'épisode de dix mois : parcours A ou B, séquence en cours, équipe de soins contenue, prescriptions d'anticancéreux oraux et cancer traité."
* ^status = #active
* obeys oncolink-ep-1
* extension contains
    OncoLinkParcoursExt named parcours 1..1 and
    OncoLinkSequenceNumberExt named currentSequence 1..1 and
    OncoLinkSequence3AllowedExt named sequence3Allowed 0..1 and
    OncoLinkTelemonitoringExt named telemonitoring 0..1
* contained 1..*
* intent = #plan
* category 1..*
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains episode 1..1
* category[episode] = $careplan-cat-cs#episode
* subject only Reference(OncoLinkPatient)
* period 1..1
* period.start 1..1
* careTeam 1..1
* careTeam only Reference(OncoLinkCareTeam)
* addresses 1..*
* addresses only Reference(Condition)
* activity 1..*
* activity.reference 1..1
* activity.reference only Reference(OncoLinkOralAnticancerRequest)
* activity.detail 0..0

Invariant: oncolink-ep-1
Description: "L'équipe de soins de l'épisode est une ressource contenue (référence locale #…)."
Severity: #error
Expression: "careTeam.all(reference.startsWith('#'))"

Profile: OncoLinkSequenceCarePlan
Parent: CarePlan
Id: oncolink-sequence
Title: "Séquence Onco'Link"
Description: "Plan de soins d'une séquence (1, 2 ou 3) d'un épisode, avec son rang de renouvellement et sa période."
* ^status = #active
* obeys oncolink-seq-1
* extension contains
    OncoLinkSequenceNumberExt named number 1..1 and
    OncoLinkSequenceRenewalExt named renewal 0..1
* intent = #plan
* category 1..*
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains sequence 1..1
* category[sequence] = $careplan-cat-cs#sequence
* partOf 1..1
* partOf only Reference(OncoLinkEpisode)
* subject only Reference(OncoLinkPatient)
* period 1..1
* period.start 1..1
* period.end 1..1

Invariant: oncolink-seq-1
Description: "La séquence 1 n'est pas renouvelable."
Severity: #error
Expression: "extension('https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence-number').value.code = '1' implies extension('https://oncolink.example.org/fhir/StructureDefinition/oncolink-sequence-renewal').all(value = 0)"
