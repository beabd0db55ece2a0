// The pathway engine's operations (fhir_server/pathway/router.py).

RuleSet: OncoLinkOperation(code, name)
* status = #active
* kind = #operation
* publisher = "Projet Onco'Link FHIR"
* code = #{code}
* name = "{name}"
* system = false
* type = false
* instance = true
* affectsState = true

RuleSet: InParam(name, type, min, max, doc)
* parameter[+].name = #{name}
* parameter[=].use = #in
* parameter[=].min = {min}
* parameter[=].max = "{max}"
* parameter[=].type = #{type}
* parameter[=].documentation = "{doc}"

RuleSet: EpisodeOut
* parameter[+].name = #episode
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #CarePlan
* parameter[=].documentation = "Le plan de l'épisode (profil oncolink-episode)."
* parameter[+].name = #sequence
* parameter[=].use = #out
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #CarePlan
* parameter[=].documentation = "La séquence en cours (profil oncolink-sequence) ; absente quand l'épisode est terminé."

Instance: oncolink-enroll
InstanceOf: OperationDefinition
Usage: #definition
Title: "Inclure un patient dans le parcours"
* insert OncoLinkOperation(enroll, OncoLinkEnroll)
* url = "https://oncolink.example.org/fhir/OperationDefinition/oncolink-enroll"
* description = "Ouvre l'épisode et la séquence 1 après vérification du consentement et de l'éligibilité de la prescription (anticancéreux oral ATC L01/L02, hors hormonothérapie adjuvante et HAD). 400 : paramètre manquant ou mal formé ; 404 : patient inconnu ; 409 : épisode actif ; 422 : règle du parcours. La même prescription incluse deux fois renvoie le même épisode."
* resource = #Patient
* insert InParam(medicationRequest, Reference, 1, 1, [[La prescription d'anticancéreux oral (MedicationRequest active du patient).]])
* insert InParam(consent, Consent, 1, 1, [[Le consentement du patient : ressource Consent active (resource) ou référence à une Consent enregistrée (valueReference).]])
* insert InParam(hospitalTeam, Reference, 1, 1, [[Le service hospitalier (Organization).]])
* insert InParam(pharmacy, Reference, 1, 1, [[La pharmacie d'officine choisie par le patient (Organization).]])
* insert InParam(gp, Reference, 0, 1, [[Le médecin traitant (Practitioner ou PractitionerRole).]])
* insert InParam(hospitalMember, Reference, 0, 1, [[L'infirmière de coordination (Practitioner ou PractitionerRole).]])
* insert InParam(condition, Reference, 0, 1, [[Le cancer traité (Condition) ; par défaut MedicationRequest.reasonReference.]])
* insert InParam(telemonitoring, boolean, 0, 1, [[Télésurveillance hebdomadaire choisie (défaut : non).]])
* insert InParam(hospitalAtHome, boolean, 0, 1, [[Patient hospitalisé à domicile : l'inclusion est refusée.]])
* insert InParam(start, date, 0, 1, [[Début de l'épisode (défaut : aujourd'hui).]])
* insert EpisodeOut

Instance: oncolink-next-sequence
InstanceOf: OperationDefinition
Usage: #definition
Title: "Passer à la séquence suivante"
* insert OncoLinkOperation(next-sequence, OncoLinkNextSequence)
* url = "https://oncolink.example.org/fhir/OperationDefinition/oncolink-next-sequence"
* description = "Clôt la séquence en cours la veille de la date indiquée et ouvre la suivante (1 → 2, 2 → 3 si le traitement le permet). 409 en séquence 3 ou quand la séquence 3 n'est pas permise."
* resource = #CarePlan
* insert InParam(date, date, 0, 1, [[Début de la nouvelle séquence (défaut : aujourd'hui).]])
* insert EpisodeOut

Instance: oncolink-renew
InstanceOf: OperationDefinition
Usage: #definition
Title: "Renouveler la séquence"
* insert OncoLinkOperation(renew, OncoLinkRenew)
* url = "https://oncolink.example.org/fhir/OperationDefinition/oncolink-renew"
* description = "Renouvelle la séquence 2 ou 3 en cours à la date indiquée (nouveau rang de renouvellement, nouveaux forfaits). 409 en séquence 1."
* resource = #CarePlan
* insert InParam(date, date, 0, 1, [[Début du renouvellement (défaut : aujourd'hui).]])
* insert EpisodeOut
